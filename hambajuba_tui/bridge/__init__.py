"""Per-frame control (numpy only): sampler, physics, composition, conductor -> FrameParams."""
