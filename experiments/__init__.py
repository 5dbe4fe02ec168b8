"""Training runs on benchmark data, and the script that tabulates them."""
