"""rollout: deploy a container to ECS Fargate behind an ALB, and roll it back fast."""

__version__ = "0.1.0"
