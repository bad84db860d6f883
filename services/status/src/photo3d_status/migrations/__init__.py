"""Numbered SQL files applied by ``photo3d_status.migrate``."""
