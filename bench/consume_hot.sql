SELECT billing.consume_quota('t1', 'messages');
