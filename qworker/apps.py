"""The qworker app's configuration."""

from django.apps import AppConfig


class QworkerConfig(AppConfig):
    name = "qworker"
    verbose_name = "Task worker"
