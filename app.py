"""Entry point for `flask --app app` and gunicorn (`gunicorn 'app:app'`)."""
import gc

from tfa import create_app

app = create_app()

# What start-up built (the app, its templates, SQLAlchemy's mappings) lives as long as the process:
# moved out of the garbage collector's generations, it is not scanned again at every full
# collection (about 0.3 ms of CPU per sign-in in `make bench`).
gc.freeze()
