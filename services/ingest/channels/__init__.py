"""One parser per channel: the platform's real payload → canonical Mentions and Responses."""
