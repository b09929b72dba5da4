"""What people write to the bot: receive, classify, store and route in one transaction, publish; check-in
answers and silence; the short path for people who are not clients."""
