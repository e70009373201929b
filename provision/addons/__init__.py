"""Step 5 of the flow: add-ons (ELK, RabbitMQ, Zipkin, MySQL, NFS storage)."""
