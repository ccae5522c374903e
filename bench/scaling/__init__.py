"""The machinery and parts behind bench/scale.py (the entry stays that one script)."""
