"""natskern's built-in plugins; each uses only the hooks a third party would use."""
