"""The process: `product.Product` assembles and runs everything (database, bot, workers, jobs, HTTP server);
`http.create_app` assembles the aiohttp application from the rooms' routes."""
