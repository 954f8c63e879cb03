"""Training recipes (online, reset-free, flow BC), each a run of typed state stepped until done."""
