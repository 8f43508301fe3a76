"""Trip sources: each delivers one month of trips in the normalized raw schema."""
