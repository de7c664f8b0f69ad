"""Helpers the template's tests share: rendering, services, stacks, containers and checks."""
