"""`curate eval NAME`: each module measures one stage on labelled data and prints it beside published numbers."""
