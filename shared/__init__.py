"""Order-to-cash integration: everything below function_app's thin triggers."""
