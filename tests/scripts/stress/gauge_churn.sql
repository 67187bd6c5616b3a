\set size random(1, 50)
\set action random(1, 3)
SELECT stress_churn(:size, :action);
