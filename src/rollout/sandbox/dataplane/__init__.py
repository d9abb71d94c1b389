"""The sandbox's data plane: what serves and checks the tasks (ALB health checks, ALB listener)."""
