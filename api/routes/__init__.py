"""One router per resource of the JSON API, plus the Japanese pages."""
