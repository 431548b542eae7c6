"""Rendering with a trained MI-NeRF: conditioning, views, compositing and videos; used by
training, evaluation, ``minerf render`` and the dub alike."""
