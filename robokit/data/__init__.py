"""Data robokit keeps: datasets on disk (Minari), the replay buffer and the batch mixer."""
