"""Data robokit keeps: datasets on disk (Minari), and next the replay buffers and batch mixer."""
