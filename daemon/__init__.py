"""pictod: a background daemon that turns folders of photos into a searchable, face-clustered library."""

__version__ = "0.1.0"
