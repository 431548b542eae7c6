"""The one timebase of the toolkit: every prepared clip, expression sequence, SyncNet window
and dubbed video counts time in these units (as whisper's ``audio.py`` does for its model).

    FPS                 video frames per second of prepared clips and model outputs
    SAMPLE_RATE         audio samples per second of prepared clips and every speech model
    SAMPLES_PER_FRAME   audio samples per video frame (640)
"""

FPS = 25
SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS
