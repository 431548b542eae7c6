"""Dubbing: the layer above the models. Prepare the video, find or personalize the identity,
predict expressions from speech, render, composite, watermark, mux and score; plus the click
layer (:mod:`minerf_dub.cli`) that assembles every package's commands."""
