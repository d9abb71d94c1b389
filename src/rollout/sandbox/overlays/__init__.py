"""AWS API behaviour layered onto moto for services outside the ECS model and the ALB.

- :mod:`~rollout.sandbox.overlays.route53`: Route 53 change propagation (PENDING, then INSYNC).

(ELBv2 target health is the data plane's: :mod:`rollout.sandbox.dataplane.target_health`.)
"""
