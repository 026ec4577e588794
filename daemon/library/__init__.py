"""The use cases both front ends call: the library's reads and the user's corrections."""
