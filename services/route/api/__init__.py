"""The case API served by route: read cases, act on them (respond, resolve, reopen, assign)."""
