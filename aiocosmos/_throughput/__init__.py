"""Throughput control: a named RU/s budget per container, enforced by each client before it sends.

* ``config.py``: the public options (``ThroughputControlGroupConfig``, ``GlobalThroughputControlConfig``)
  and the statistics (``ThroughputControlStats``).
* ``throttler.py``: ``RequestThrottler``, the gate the pipeline passes every request of the group through
  (1-second cycles, debt carried over, priority), and ``LoadTracker``, this client's recent use.
* ``control_items.py``: the control container's items (Java's schema) and the share computation.

Pure policy objects over an injectable clock; the I/O (the control container, the offer) lives in
``_resources/throughput_control.py``.
"""
