"""Media files shared by the audio-visual experiments: decoding (PyAV, ``wave``), writing
mp4/wav atomically, and resampling audio."""
