DROP TABLE job_leases;
DROP TABLE nodes;
