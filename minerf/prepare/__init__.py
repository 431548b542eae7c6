"""Preprocessing: a talking-face video -> a prepared clip (see :mod:`minerf_base.clip`)."""
