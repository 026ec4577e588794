"""People: the cluster manager and the pure clustering maths."""
