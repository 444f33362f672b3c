"""Framework integration tests."""
