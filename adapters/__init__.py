"""Platform adapters (console; Slack and Discord follow) and the ``rrr-bot`` command line that wires them."""
