"""Settings of the minimal Django project the client test runs."""
import os
SECRET_KEY = "test"
INSTALLED_APPS = ["shop"]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "spanlite", "USER": "root", "HOST": "127.0.0.1",
    "PORT": os.environ["PGPORT"],
}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
