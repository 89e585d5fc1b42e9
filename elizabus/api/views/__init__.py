"""One module per router of the reference: core, channels, message servers, system."""
