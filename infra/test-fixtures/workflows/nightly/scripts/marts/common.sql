-- a helper the scripts include
select 1;
