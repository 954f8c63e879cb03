"""`robokit <verb>`: one module per verb group; the only core package that imports envs and drivers."""
