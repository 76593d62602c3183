"""The watcher: checks the stack every minute and tells the operator when something turns bad."""
