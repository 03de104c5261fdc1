"""smflow's outer layer: the command line and the Flask application."""
