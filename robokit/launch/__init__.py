"""Where a run's processes go. The default launcher starts actor processes on this machine
(robokit.loop.fleet); `robokit train --launcher ray` places the learner and its actors as Ray
actors (ray_learner.py, ray_fleet.py) on a local or existing Ray cluster. Ray places, resources and
restarts processes; the data still go over robokit's own link (acknowledged, logged, deduplicated,
CURVE-encrypted), never through Ray's object store."""
