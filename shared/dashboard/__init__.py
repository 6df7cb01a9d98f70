"""The dashboard for business users: a view model built from Services (view.py), Jinja2 templates with
autoescape (templates/), the page's CSS and JavaScript as static files (static/), rendering (page.py)."""
