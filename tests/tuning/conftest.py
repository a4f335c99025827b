from tests.helpers import local_ray  # noqa: F401  (session fixture: one embedded Ray)
