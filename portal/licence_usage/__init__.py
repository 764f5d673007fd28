"""Licence use ("Uso de licenças"): what a customer's tenant says of its licences, read from Microsoft Graph."""
