"""The web kit every domain's views share: forms, roles, navigation, labels, the clinic's clock, the
container accessor and error pages."""
