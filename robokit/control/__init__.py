"""The control law shared by the simulated and the real arm: impedance law, TCP reference, spatial maths."""
