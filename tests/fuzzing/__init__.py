"""The differential fuzzer's parts (its command is tests/fuzz.py)."""
