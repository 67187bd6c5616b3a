SELECT crash_send('c1');
