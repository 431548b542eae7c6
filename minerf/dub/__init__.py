"""Dubbing: a video + new speech -> the same video with lips that speak the new audio."""
