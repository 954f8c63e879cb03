"""The zmq link: learners bind a ROUTER socket, actors connect DEALER sockets.

The protocol, all msgpack maps (robokit.link.wire), never pickle:

    actor -> learner   hello {protocol, actor, source, spec, config_hash, config, reward, paced, acked}
                       batch {seq, stream, data}      (seq counts per source = one actor spool)
                       ping  {version, said}          (every 0.5 s; the params version, correction id it has)
    learner -> actor   welcome {acked, hold} | refused {reason} | hello? (who are you: re-handshake)
                       ack {acked, hold}              (acked: every seq <= it is in the durable log)
                       pong {acked, hold} | params {version, data} | error {reason}
                       instruct {id, text, embedding, steps}   (an operator's correction)
    operator -> learner  say {text, embedding, actor, steps} -> said {id, actors} | error {reason}
                       (robokit.link.corrections; no handshake, only the transport's keys)

A batch is acknowledged only after the learner's log holds it on disk; an actor keeps every
unacknowledged batch in its spool (on disk) and resends after each handshake; the learner inserts
seq == acked + 1 only, so duplicates and gaps never reach the buffers. Every message is checked
(robokit.link.wire) before use; any message that fails, or whose handling raises, gets an `error`
reply and the link goes on. Before a hello a message may be at most 64 KiB (a larger one gets
`hello?`, undecoded).
"""

from robokit.link.zmq_actor import LinkRefused, ZmqActorLink
from robokit.link.zmq_learner import ZmqLearnerLink

__all__ = ["LinkRefused", "ZmqActorLink", "ZmqLearnerLink"]
